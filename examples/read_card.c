/*
 * Read the card's basic information through libsscard.so, as counter software does (README "Native library").
 *
 *   make lib
 *   gcc -o read_card examples/read_card.c -I build -L build -lsscard -Wl,-rpath,"$PWD/build"
 *   SSCARD_READER=sim ./read_card        # the demo card on the built-in emulator; 3 = auto (contact first)
 *
 * Prints the iReadCardBas output (GBK, as the card has it) and exits 0, or prints the code and message on
 * stderr and exits 1. Optional argument: iType (1 contact, 2 contactless, 3 or 4 auto).
 */
#include <stdio.h>
#include <stdlib.h>

#include "sscard.h"

int main(int argc, char **argv)
{
    int iType = argc > 1 ? atoi(argv[1]) : 3;
    char out[SSCARD_OUTINFO_SIZE];          /* the size iReadCardBas takes its buffer to have */

    int code = iReadCardBas(iType, out);
    if (code != 0) {
        fprintf(stderr, "iReadCardBas failed: %d %s\n", code, out);
        return 1;
    }
    printf("%s\n", out);
    return 0;
}
