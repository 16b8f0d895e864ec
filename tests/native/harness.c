/*
 * Drives libsscard.so the way Java, .NET and Delphi hosts load it: dlopen(RTLD_LOCAL) at run time (path in
 * $SSCARD_LIB), functions found by name, calls from threads the host makes. tests/native/test_c_harness.py
 * runs it and checks what it prints.
 *
 *   harness threads N M        N threads call iReadCardBas M times each, at once; prints "ok <output>" when
 *                              every call returned 0 with the same output
 *   harness bad-inputs         one "<label> <code>" line per bad call (NULL pointers, iType, pFileAddr, GBK …)
 *   harness pin ANSWER …       a PIN callback answering ANSWERs in turn ("cancel", "timeout", "reenter" or
 *                              digits); calls iVerifyPIN and prints "<code> <pOutInfo>"
 *   harness verify             iVerifyPIN with no PIN callback (the library asks on the terminal, if any);
 *                              prints "<code> <pOutInfo>"
 *   harness ex SIZE            iReadCardBas_Ex with a SIZE-byte buffer inside a guarded larger one;
 *                              prints "<code> <pOutInfo>" and "guard ok" when nothing past SIZE changed
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sscard.h"

#define FN(name) static __typeof__(name) *p_##name
FN(iReadCardBas); FN(iReadCardBas_Ex); FN(iReadCard); FN(iWriteCard); FN(iVerifyPIN); FN(iChangePIN);
FN(iReloadPIN); FN(iUnblockPIN); FN(iReadCardBas_HSM_Step1); FN(iReadCardBas_HSM_Step2);
FN(iReloadPIN_HSM_Step1); FN(iReloadPIN_HSM_Step2); FN(iReloadPIN_HSM_Step3); FN(iReadPhoto);
FN(iGetReaderInfo); FN(iReadCard_Ex); FN(sscard_set_pin_callback);

static void *need(void *lib, const char *name)
{
    void *p = dlsym(lib, name);
    if (p == NULL) {
        fprintf(stderr, "no symbol %s\n", name);
        exit(2);
    }
    return p;
}

#define LOAD(lib, name) (p_##name = (__typeof__(p_##name))need(lib, #name))

static void load(void)
{
    const char *path = getenv("SSCARD_LIB");
    void *lib = dlopen(path ? path : "libsscard.so", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        exit(2);
    }
    LOAD(lib, iReadCardBas); LOAD(lib, iReadCardBas_Ex); LOAD(lib, iReadCard); LOAD(lib, iWriteCard);
    LOAD(lib, iVerifyPIN); LOAD(lib, iChangePIN); LOAD(lib, iReloadPIN); LOAD(lib, iUnblockPIN);
    LOAD(lib, iReadCardBas_HSM_Step1); LOAD(lib, iReadCardBas_HSM_Step2); LOAD(lib, iReloadPIN_HSM_Step1);
    LOAD(lib, iReloadPIN_HSM_Step2); LOAD(lib, iReloadPIN_HSM_Step3); LOAD(lib, iReadPhoto);
    LOAD(lib, iGetReaderInfo); LOAD(lib, iReadCard_Ex); LOAD(lib, sscard_set_pin_callback);
}

/* --- threads ------------------------------------------------------------------------------------------------ */
struct job {
    pthread_t thread;
    int rounds, failures;
    char first[SSCARD_OUTINFO_SIZE];
};

static void *reader_thread(void *arg)
{
    struct job *job = arg;
    char out[SSCARD_OUTINFO_SIZE];
    for (int i = 0; i < job->rounds; i++) {
        int code = p_iReadCardBas(3, out);
        if (code != 0) {
            fprintf(stderr, "thread call %d: %d %s\n", i, code, out);
            job->failures++;
        } else if (i == 0) {
            strcpy(job->first, out);
        } else if (strcmp(out, job->first) != 0) {
            job->failures++;
        }
    }
    return NULL;
}

static int threads(int n, int rounds)
{
    struct job *jobs = calloc((size_t)n, sizeof *jobs);
    for (int i = 0; i < n; i++) {
        jobs[i].rounds = rounds;
        pthread_create(&jobs[i].thread, NULL, reader_thread, &jobs[i]);
    }
    int failures = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(jobs[i].thread, NULL);
        failures += jobs[i].failures;
        if (strcmp(jobs[i].first, jobs[0].first) != 0)
            failures++;
    }
    if (failures)
        printf("failures %d\n", failures);
    else
        printf("ok %s\n", jobs[0].first);
    free(jobs);
    return failures != 0;
}

/* --- bad inputs ----------------------------------------------------------------------------------------------- */
#define EF_ALL "SSSEEF05|05|06|07|$SSSEEF06|08|09|4E|0A|0B|0D|$"

static char out[SSCARD_OUTINFO_SIZE];

static void show(const char *label, int code)
{
    printf("%s %d\n", label, code);
}

static int bad_inputs(void)
{
    char *long_input = malloc(SSCARD_INPUT_MAX + 2);
    memset(long_input, 'A', SSCARD_INPUT_MAX + 1);
    long_input[SSCARD_INPUT_MAX + 1] = '\0';

    show("ReadCardBas.null_out", p_iReadCardBas(3, NULL));
    show("ReadCardBas_Ex.size0", p_iReadCardBas_Ex(3, out, 0));
    show("ReadCardBas_Ex.size-1", p_iReadCardBas_Ex(3, out, -1));
    show("ReadCardBas.itype0", p_iReadCardBas(0, out));
    show("ReadCardBas.itype5", p_iReadCardBas(5, out));
    show("ReadCardBas.itype-1", p_iReadCardBas(-1, out));
    show("ReadCardBas.itypemax", p_iReadCardBas(INT_MAX, out));
    show("ReadCardBas.itypemin", p_iReadCardBas(INT_MIN, out));
    show("ReadCardBas.contactless", p_iReadCardBas(2, out));
    show("ReadCard.null_cardinfo", p_iReadCard(3, 2, NULL, EF_ALL, out));
    show("ReadCard.null_fileaddr", p_iReadCard(3, 2, "", NULL, out));
    show("ReadCard.null_out", p_iReadCard(3, 2, "", EF_ALL, NULL));
    show("ReadCard.itype9", p_iReadCard(9, 2, "", EF_ALL, out));
    show("ReadCard.authtype7", p_iReadCard(3, 7, "", EF_ALL, out));
    show("ReadCard.addr_garbage", p_iReadCard(3, 2, "", "garbage", out));
    show("ReadCard.addr_no_dollar", p_iReadCard(3, 2, "", "SSSEEF05|05|", out));
    show("ReadCard.addr_bad_file", p_iReadCard(3, 2, "", "SSSEXX05|05|$", out));
    show("ReadCard.addr_bad_item", p_iReadCard(3, 2, "", "SSSEEF05|5|$", out));
    show("ReadCard.addr_empty", p_iReadCard(3, 2, "", "", out));
    show("ReadCard.addr_not_gbk", p_iReadCard(3, 2, "", "SSSEEF05|\xff\xff|$", out));
    show("ReadCard.addr_cut_gbk", p_iReadCard(3, 2, "", "SSSEEF05|05|$\x81", out));
    show("ReadCard.addr_too_long", p_iReadCard(3, 2, "", long_input, out));
    show("ReadCard.cardinfo_format", p_iReadCard(3, 2, "ZZ|", EF_ALL, out));
    show("ReadCard.cardinfo_not_gbk", p_iReadCard(3, 2, "\x80|", EF_ALL, out));
    show("WriteCard.null_data", p_iWriteCard(3, "", "SSSEEF06|09|$", NULL, out));
    show("WriteCard.data_not_gbk", p_iWriteCard(3, "", "SSSEEF06|09|$", "SSSEEF06|\x81\x7f|$", out));
    show("WriteCard.itype0", p_iWriteCard(0, "", "SSSEEF06|09|$", "SSSEEF06|x|$", out));
    show("VerifyPIN.itype6", p_iVerifyPIN(6, out));
    show("VerifyPIN.null_out", p_iVerifyPIN(1, NULL));
    show("ChangePIN.itype-3", p_iChangePIN(-3, out));
    show("ReloadPIN.null_cardinfo", p_iReloadPIN(3, NULL, out));
    show("ReloadPIN.itype8", p_iReloadPIN(8, "", out));
    show("UnblockPIN.null_cardinfo", p_iUnblockPIN(3, NULL, out));
    show("UnblockPIN.cardinfo_not_gbk", p_iUnblockPIN(3, "\xfe", out));
    show("HSM_Step2.null_key", p_iReadCardBas_HSM_Step2(NULL, out));
    show("HSM_Step2.without_step1", p_iReadCardBas_HSM_Step2("00|", out));
    show("HSM_Step1.itype0", p_iReadCardBas_HSM_Step1(0, out));
    show("Reload_HSM_Step1.null_cardinfo", p_iReloadPIN_HSM_Step1(3, NULL, out));
    show("Reload_HSM_Step2.without_step1", p_iReloadPIN_HSM_Step2("zz", out));
    show("Reload_HSM_Step3.null_key", p_iReloadPIN_HSM_Step3(NULL, out));
    show("ReadPhoto.itype9", p_iReadPhoto(9, out));
    show("ReadPhoto.null_out", p_iReadPhoto(3, NULL));
    show("GetReaderInfo.null_sn", p_iGetReaderInfo(NULL, out));
    show("GetReaderInfo.null_term", p_iGetReaderInfo(out, NULL));
    /* and the library still works after all that */
    show("ReadCardBas.after", p_iReadCardBas(3, out));
    free(long_input);
    return 0;
}

/* --- PIN callback ------------------------------------------------------------------------------------------- */
static char **answers;
static int n_answers, next_answer;

static int pin_callback(int prompt, char *pin, int size, void *user)
{
    (void)user;
    if (next_answer >= n_answers)
        return SSCARD_E_PIN_CANCELLED;
    const char *a = answers[next_answer++];
    fprintf(stderr, "prompt %d\n", prompt);
    if (strcmp(a, "cancel") == 0)
        return SSCARD_E_PIN_CANCELLED;
    if (strcmp(a, "timeout") == 0)
        return SSCARD_E_PIN_TIMEOUT;
    if (strcmp(a, "reenter") == 0) {       /* the library may not be called from its own callback */
        char inner[SSCARD_OUTINFO_SIZE];
        printf("inner %d\n", p_iReadCardBas(3, inner));
        return SSCARD_E_PIN_CANCELLED;
    }
    snprintf(pin, (size_t)size, "%s", a);
    return 0;
}

static int pin(int argc, char **argv)
{
    answers = argv;
    n_answers = argc;
    p_sscard_set_pin_callback(pin_callback, NULL);
    int code = p_iVerifyPIN(3, out);
    printf("%d %s\n", code, out);
    return 0;
}

/* --- _Ex with a small buffer ------------------------------------------------------------------------------- */
static int ex(int size)
{
    enum { GUARD = 256 };
    char *buf = malloc((size_t)size + GUARD);
    memset(buf, 0x5A, (size_t)size + GUARD);
    int code = p_iReadCardBas_Ex(3, buf, size);
    int guard_ok = 1;
    for (int i = size; i < size + GUARD; i++)
        guard_ok &= buf[i] == 0x5A;
    printf("%d %s\n", code, size > 0 && memchr(buf, 0, (size_t)size) ? buf : "(no NUL)");
    printf("guard %s\n", guard_ok ? "ok" : "BROKEN");
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: harness threads N M | bad-inputs | pin ANSWER... | verify | ex SIZE\n");
        return 2;
    }
    load();
    if (strcmp(argv[1], "threads") == 0 && argc == 4)
        return threads(atoi(argv[2]), atoi(argv[3]));
    if (strcmp(argv[1], "bad-inputs") == 0)
        return bad_inputs();
    if (strcmp(argv[1], "pin") == 0)
        return pin(argc - 2, argv + 2);
    if (strcmp(argv[1], "verify") == 0) {
        int code = p_iVerifyPIN(3, out);
        printf("%d %s\n", code, out);
        return 0;
    }
    if (strcmp(argv[1], "ex") == 0 && argc == 3)
        return ex(atoi(argv[2]));
    fprintf(stderr, "unknown command %s\n", argv[1]);
    return 2;
}
