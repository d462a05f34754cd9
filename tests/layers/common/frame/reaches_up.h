// wire reaching up into sim: refused.
#pragma once
#include "common/sim/kernel.h"
