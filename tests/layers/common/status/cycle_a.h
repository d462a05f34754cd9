#pragma once
#include "common/status/cycle_b.h"
