#include <stdio.h>
#include "cli.h"
int cmd_info(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "error: not yet built\n"); return 1; }
