#pragma once
#include "common/status/cycle_a.h"
