#include "cli/commands.hpp"

int main(int argc, char** argv) { return postern::cli::run(argc, argv); }
