/* main.c: placeholder entry point until the supervisor lands. */
#include "config.h"

int main(void)
{
    return 0;
}
