// The SDK including the runtime: refused.
#pragma once
#include "common/status/cycle_a.h"
