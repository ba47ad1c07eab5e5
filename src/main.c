#include <stdio.h>
int main(void) { puts("eddy " EDDY_VERSION); return 0; }
