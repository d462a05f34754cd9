// A model that reaches past the SDK into meshsim's internals. It must not
// build: tests/CMakeLists.txt (sdk_boundary_test) builds it as the shipped
// models are built and expects the compiler to refuse the include.
#include "common/strings/format.h"
#include "meshsim/model.h"

std::string Leak() { return meshsim::StrCat("internal ", 1); }
