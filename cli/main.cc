#include "cli/commands.h"

int main(int argc, char** argv) { return meshsim::cli::Main(argc, argv); }
