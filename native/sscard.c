/*
 * libsscard.so — the standard read/write-card interface (docs/sources.md §6) for C, C#, Java and Delphi
 * counter software, backed by the project's Python driver (host/standard/driver.py) run inside the
 * caller's process. The interface's rules (inputs, GBK, error codes, configuration, PIN entry) live in
 * host/standard/native.py; this file only starts Python, moves bytes and guards the caller's buffers.
 *
 * Why the CPython C API directly, not cffi's embedding mode:
 *   - no extra dependency: the library needs libpython and nothing else; cffi's embedding needs cffi at
 *     build time and its _cffi_backend importable at run time, from a venv the library has not found yet;
 *   - finding the venv: we set PyConfig.program_name to the venv's python, so CPython's own path logic
 *     reads its pyvenv.cfg and gives sys.prefix, the standard library and site-packages exactly as
 *     `.venv/bin/python` has them. cffi's embedding initialises Python with the host program's paths
 *     (a C# or Java runtime binary), which know nothing of the venv;
 *   - threads: every call takes the GIL with PyGILState_Ensure, which works from any thread, including
 *     threads the caller makes after the first call; the thread that started Python releases the GIL at
 *     once (PyEval_SaveThread), so an idle caller never holds it;
 *   - control: no signal handlers installed (install_signal_handlers = 0: the host's SIGINT stays the
 *     host's), the host's C stdio untouched, Py_Finalize never called (unsafe with the caller's threads).
 *
 * How Python and the project are found (first hit wins), once per process at the first call:
 *   - Python already running in this process (e.g. the caller is Python using ctypes): that one is used, if
 *     it is the version this library was built for (else -5);
 *   - $SSCARD_PYTHON: a Python executable (typically a venv's bin/python) that can import the project;
 *   - $SSCARD_HOME: the project folder; its .venv/bin/python is used and the folder goes first on sys.path;
 *   - else the project folder and venv python baked in at build time (scripts/build-lib.sh).
 *   $PYTHONHOME / $PYTHONPATH, if the caller sets them, are honoured by CPython as usual (PYTHONHOME turns
 *   off the venv lookup). If Python cannot start or the project cannot be imported every call returns -5
 *   with the reason in pOutInfo; the process must be restarted once that is fixed.
 *
 * libpython is made RTLD_GLOBAL once loaded: Java, .NET and dlopen(RTLD_LOCAL) callers would otherwise hide
 * its symbols from the extension modules the driver imports (cryptography, pyscard).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sscard.h"
#include "sscard_build.h"   /* SSCARD_HOME_DEFAULT, SSCARD_PYTHON_DEFAULT (written by scripts/build-lib.sh) */

#define NATIVE_MODULE "host.standard.native"
#define INTERNAL_ERROR SSCARD_E_NOT_SUPPORTED   /* what error_code gives an unexpected exception */

/* --- the runtime: started once ------------------------------------------------------------------------------- */
enum { RT_NEW, RT_READY, RT_FAILED };
static pthread_once_t rt_once = PTHREAD_ONCE_INIT;
static int rt_state = RT_NEW;
static char rt_error[512];
static PyObject *py_dispatch;     /* host.standard.native.dispatch */
static PyObject *py_close;        /* host.standard.native.close */

static pthread_mutex_t pin_mutex = PTHREAD_MUTEX_INITIALIZER;
static SSCardPinCallback pin_callback;
static void *pin_user;

static void fail_start(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rt_error, sizeof rt_error, fmt, ap);
    va_end(ap);
    __atomic_store_n(&rt_state, RT_FAILED, __ATOMIC_RELEASE);
}

/* The pending Python exception as text (cleared), for messages. */
static void exception_text(char *buf, size_t size)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject *text = value ? PyObject_Str(value) : NULL;
    const char *name = type ? ((PyTypeObject *)type)->tp_name : "error";
    const char *msg = text ? PyUnicode_AsUTF8(text) : NULL;
    snprintf(buf, size, "%s: %s", name, msg ? msg : "?");
    PyErr_Clear();
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

/* host.standard.native's PIN function: asks the registered callback without the GIL. Returns the PIN's
 * bytes, the callback's code, or None when there is no callback. */
static PyObject *ask_pin(PyObject *self, PyObject *arg)
{
    (void)self;
    long prompt = PyLong_AsLong(arg);
    if (prompt == -1 && PyErr_Occurred())
        return NULL;
    pthread_mutex_lock(&pin_mutex);
    SSCardPinCallback cb = pin_callback;
    void *user = pin_user;
    pthread_mutex_unlock(&pin_mutex);
    if (cb == NULL)
        Py_RETURN_NONE;
    char pin[SSCARD_PIN_SIZE];
    memset(pin, 0, sizeof pin);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = cb((int)prompt, pin, (int)sizeof pin, user);
    Py_END_ALLOW_THREADS
    pin[sizeof pin - 1] = '\0';
    PyObject *answer = rc == 0 ? PyBytes_FromString(pin) : PyLong_FromLong(rc);
    explicit_bzero(pin, sizeof pin);
    return answer;
}

static PyMethodDef ask_pin_def = {"ask_pin", ask_pin, METH_O, "Ask the PIN callback registered in C."};

/* The Python executable and project folder to use (see the header comment). */
static void locate(char *python, size_t psize, char *home, size_t hsize)
{
    const char *env_home = getenv("SSCARD_HOME");
    const char *env_python = getenv("SSCARD_PYTHON");
    if (env_home && *env_home)
        snprintf(home, hsize, "%s", env_home);
    else if (env_python && *env_python)
        home[0] = '\0';          /* a Python of its own: the project comes from its site-packages */
    else
        snprintf(home, hsize, "%s", SSCARD_HOME_DEFAULT);
    if (env_python && *env_python)
        snprintf(python, psize, "%s", env_python);
    else if (env_home && *env_home)
        snprintf(python, psize, "%s/.venv/bin/python", env_home);
    else
        snprintf(python, psize, "%s", SSCARD_PYTHON_DEFAULT);
}

static int start_interpreter(const char *python)
{
    if (access(python, X_OK) != 0) {
        fail_start("no Python at %s: set SSCARD_HOME to the sscard folder (with its .venv) or SSCARD_PYTHON "
                   "to a Python that can import host", python);
        return -1;
    }
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    config.configure_c_stdio = 0;
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, python);
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        fail_start("Python (%s) did not start: %s%s%s", python, status.func ? status.func : "",
                   status.func ? ": " : "", status.err_msg ? status.err_msg : "exit");
        return -1;
    }
    return 0;
}

/* Import host.standard.native (with the GIL held). */
static int import_driver(const char *home, int own_interpreter)
{
    PyObject *path = PySys_GetObject("path");    /* borrowed */
    if (home[0] && path) {
        PyObject *dir = PyUnicode_DecodeFSDefault(home);
        if (dir) {
            /* our own interpreter: the configured folder wins; the caller's: only if host is not found */
            if (own_interpreter)
                PyList_Insert(path, 0, dir);
            Py_DECREF(dir);
        }
        PyErr_Clear();
    }
    PyObject *mod = PyImport_ImportModule(NATIVE_MODULE);
    if (mod == NULL && !own_interpreter && home[0] && path
            && PyErr_ExceptionMatches(PyExc_ModuleNotFoundError)) {
        PyErr_Clear();
        PyObject *dir = PyUnicode_DecodeFSDefault(home);
        if (dir) {
            PyList_Append(path, dir);
            Py_DECREF(dir);
        }
        mod = PyImport_ImportModule(NATIVE_MODULE);
    }
    if (mod == NULL) {
        char why[400];
        exception_text(why, sizeof why);
        fail_start("cannot import %s (sscard folder %s): %s", NATIVE_MODULE, home[0] ? home : "-", why);
        return -1;
    }
    PyObject *fn = PyCFunction_New(&ask_pin_def, NULL);
    PyObject *r = fn ? PyObject_CallMethod(mod, "attach", "O", fn) : NULL;
    py_dispatch = PyObject_GetAttrString(mod, "dispatch");
    py_close = PyObject_GetAttrString(mod, "close");
    Py_XDECREF(r);
    Py_XDECREF(fn);
    Py_DECREF(mod);
    if (r == NULL || py_dispatch == NULL || py_close == NULL) {
        char why[400];
        exception_text(why, sizeof why);
        fail_start("%s is not usable: %s", NATIVE_MODULE, why);
        return -1;
    }
    return 0;
}

static void start_runtime(void)
{
    char python[4096], home[4096];
    locate(python, sizeof python, home, sizeof home);

    /* Make libpython's symbols global before any extension module is loaded. */
    Dl_info info;
    if (dladdr((void *)&Py_IsInitialized, &info) && info.dli_fname)
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);

    int own = 0;
    if (!Py_IsInitialized()) {
        if (start_interpreter(python) != 0)
            return;
        own = 1;
    } else {
        const char *running = Py_GetVersion();
        size_t n = strlen(PY_VERSION);
        const char *dot = strchr(PY_VERSION, '.');
        dot = dot ? strchr(dot + 1, '.') : NULL;
        if (dot)
            n = (size_t)(dot - PY_VERSION);             /* "3.11" */
        if (strncmp(running, PY_VERSION, n) != 0 || (running[n] != '.' && running[n] != ' ')) {
            fail_start("this process already runs Python %.20s; libsscard.so is built for Python %s",
                       running, PY_VERSION);
            return;
        }
    }
    PyGILState_STATE gil = PyGILState_Ensure();
    int rc = import_driver(home, own);
    PyGILState_Release(gil);
    if (own)
        (void)PyEval_SaveThread();    /* the starting thread keeps no GIL: any thread may call next */
    if (rc == 0)
        __atomic_store_n(&rt_state, RT_READY, __ATOMIC_RELEASE);
}

static int runtime(void)
{
    pthread_once(&rt_once, start_runtime);
    return rt_state == RT_READY ? 0 : -1;
}

/* --- output buffers ------------------------------------------------------------------------------------------- */

/* The longest prefix of data (at most limit bytes) that does not split a GBK character. */
static size_t gbk_prefix(const char *data, size_t len, size_t limit)
{
    size_t i = 0;
    if (limit > len)
        limit = len;
    while (i < limit) {
        unsigned char b = (unsigned char)data[i];
        size_t step = (b >= 0x81 && b <= 0xFE) ? 2 : 1;
        if (i + step > limit)
            break;
        i += step;
    }
    return i;
}

/* An error message "<text>|", cut to fit (at a GBK character) if it must be. */
static void put_message(char *out, size_t size, const char *data, size_t len)
{
    if (len < size) {
        memcpy(out, data, len);
        out[len] = '\0';
        return;
    }
    if (size < 2) {
        out[0] = '\0';
        return;
    }
    size_t keep = gbk_prefix(data, len, size - 2);
    memcpy(out, data, keep);
    out[keep] = '|';
    out[keep + 1] = '\0';
}

static int put_error(char *out, size_t size, int code, const char *fmt, ...)
{
    char text[768];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof text)
        n = (int)sizeof text - 1;
    put_message(out, size, text, (size_t)n);
    return code;
}

/* The result into the caller's buffer: a success that does not fit is refused (-42); an error keeps its code. */
static int deliver(int code, const char *data, size_t len, char *out, size_t size)
{
    if (code == SSCARD_OK && len >= size)
        return put_error(out, size, SSCARD_E_DATA_LENGTH,
                         "%zu|the output needs %zu bytes with its NUL, the buffer holds %zu|", len + 1, len + 1,
                         size);
    if (code == SSCARD_OK) {
        memcpy(out, data, len);
        out[len] = '\0';
        return code;
    }
    put_message(out, size, data, len);
    return code;
}

/* --- one call ------------------------------------------------------------------------------------------------- */
typedef struct {
    const char *name;      /* parameter name, for messages */
    int is_text;
    int number;
    const char *text;
} arg_t;

#define NUM(v) {#v, 0, (v), NULL}     /* an int parameter, named as in the interface */
#define TXT(v) {#v, 1, 0, (v)}        /* a string parameter */

static int run(const char *function, const arg_t *args, int nargs, char *out, int out_size)
{
    if (out == NULL || out_size < 1)
        return SSCARD_E_BAD_PARAMETER;
    size_t size = (size_t)out_size;
    out[0] = '\0';
    for (int i = 0; i < nargs; i++)
        if (args[i].is_text && args[i].text && strnlen(args[i].text, SSCARD_INPUT_MAX + 1) > SSCARD_INPUT_MAX)
            return put_error(out, size, SSCARD_E_BAD_PARAMETER, "%s is longer than %d bytes|", args[i].name,
                             SSCARD_INPUT_MAX);
    if (runtime() != 0)
        return put_error(out, size, SSCARD_E_LOAD, "%s|", rt_error);

    PyGILState_STATE gil = PyGILState_Ensure();
    int code = INTERNAL_ERROR;
    PyObject *tuple = PyTuple_New(nargs), *result = NULL;
    int ok = tuple != NULL;
    for (int i = 0; ok && i < nargs; i++) {
        PyObject *v;
        if (!args[i].is_text)
            v = PyLong_FromLong(args[i].number);
        else if (args[i].text == NULL)
            v = Py_NewRef(Py_None);
        else
            v = PyBytes_FromString(args[i].text);
        ok = v != NULL;
        if (ok)
            PyTuple_SET_ITEM(tuple, i, v);
    }
    if (ok)
        result = PyObject_CallFunction(py_dispatch, "sO", function, tuple);
    const char *data;
    Py_ssize_t len;
    if (result && PyArg_ParseTuple(result, "iy#", &code, &data, &len)) {
        code = deliver(code, data, (size_t)len, out, size);
    } else {
        char why[400];
        exception_text(why, sizeof why);
        code = put_error(out, size, INTERNAL_ERROR, "internal error in %s: %s|", function, why);
    }
    Py_XDECREF(result);
    Py_XDECREF(tuple);
    PyGILState_Release(gil);
    return code;
}

/* --- the interface ---------------------------------------------------------------------------------------- */
/* NAME_Ex(PARAMS..., char *pOutInfo, int iOutSize) and NAME(PARAMS..., char *pOutInfo), whose pOutInfo holds SIZE
 * bytes: both pass the driver's NAME the arguments ARGS, a NUM(param) or TXT(param) for each of PARAMS in order. */
#define UNPAREN(...) __VA_ARGS__
#define EXPORT(ret, name, size, params, ...)                                                                    \
    int name##_Ex(UNPAREN params, char *pOutInfo, int iOutSize)                                                  \
    {                                                                                                            \
        arg_t a[] = {__VA_ARGS__};                                                                               \
        return run(#name, a, (int)(sizeof a / sizeof a[0]), pOutInfo, iOutSize);                                 \
    }                                                                                                            \
    ret name(UNPAREN params, char *pOutInfo)                                                                     \
    {                                                                                                            \
        arg_t a[] = {__VA_ARGS__};                                                                               \
        return run(#name, a, (int)(sizeof a / sizeof a[0]), pOutInfo, size);                                     \
    }

EXPORT(int, iReadCardBas, SSCARD_OUTINFO_SIZE, (int iType), NUM(iType))
EXPORT(int, iReadCard, SSCARD_OUTINFO_SIZE, (int iType, int iAuthType, char *pCardInfo, char *pFileAddr),
       NUM(iType), NUM(iAuthType), TXT(pCardInfo), TXT(pFileAddr))
EXPORT(int, iWriteCard, SSCARD_OUTINFO_SIZE, (int iType, char *pCardInfo, char *pFileAddr, char *pWriteData),
       NUM(iType), TXT(pCardInfo), TXT(pFileAddr), TXT(pWriteData))
EXPORT(int, iVerifyPIN, SSCARD_OUTINFO_SIZE, (int iType), NUM(iType))
EXPORT(int, iChangePIN, SSCARD_OUTINFO_SIZE, (int iType), NUM(iType))
EXPORT(int, iReloadPIN, SSCARD_OUTINFO_SIZE, (int iType, char *pCardInfo), NUM(iType), TXT(pCardInfo))
EXPORT(int, iUnblockPIN, SSCARD_OUTINFO_SIZE, (int iType, char *pCardInfo), NUM(iType), TXT(pCardInfo))
EXPORT(int, iDoDebit, SSCARD_OUTINFO_SIZE, (int iType, char *pCardInfo, char *pPayInfo),
       NUM(iType), TXT(pCardInfo), TXT(pPayInfo))
EXPORT(int, iReadDebitRecord, SSCARD_OUTINFO_SIZE, (int iType), NUM(iType))
EXPORT(int, iDoDebit_HSM_Step1, SSCARD_OUTINFO_SIZE, (int iType, char *pCardInfo, char *pPayInfo),
       NUM(iType), TXT(pCardInfo), TXT(pPayInfo))
EXPORT(int, iDoDebit_HSM_Step2, SSCARD_OUTINFO_SIZE, (char *pKey), TXT(pKey))
EXPORT(int, iReadCardBas_HSM_Step1, SSCARD_OUTINFO_SIZE, (int iType), NUM(iType))
EXPORT(int, iReadCardBas_HSM_Step2, SSCARD_OUTINFO_SIZE, (char *pKey), TXT(pKey))
EXPORT(int, iReloadPIN_HSM_Step1, SSCARD_OUTINFO_SIZE, (int iType, char *pCardInfo), NUM(iType), TXT(pCardInfo))
EXPORT(int, iReloadPIN_HSM_Step2, SSCARD_OUTINFO_SIZE, (char *pKey), TXT(pKey))
EXPORT(int, iReloadPIN_HSM_Step3, SSCARD_OUTINFO_SIZE, (char *pKey), TXT(pKey))
EXPORT(long, iWriteCardBas, SSCARD_OUTINFO_SIZE, (int iType), NUM(iType))
EXPORT(int, iWriteCardBas_HSM_Step1, SSCARD_OUTINFO_SIZE, (char *pKey, char *pWriteInfo), TXT(pKey), TXT(pWriteInfo))
EXPORT(int, iWriteCardBasExt, SSCARD_OUTINFO_SIZE, (int iType, char *pCardInfo, char *pWriteData),
       NUM(iType), TXT(pCardInfo), TXT(pWriteData))
EXPORT(int, iReadCard_HSM_Step1, SSCARD_OUTINFO_SIZE, (int iType, char *pCardInfo, char *pFileAddr),
       NUM(iType), TXT(pCardInfo), TXT(pFileAddr))
EXPORT(int, iReadCard_HSM_Step2, SSCARD_OUTINFO_SIZE, (char *pKey), TXT(pKey))
EXPORT(int, iWriteCard_HSM_Step1, SSCARD_OUTINFO_SIZE, (int iType, char *pCardInfo, char *pFileAddr),
       NUM(iType), TXT(pCardInfo), TXT(pFileAddr))
EXPORT(int, iWriteCard_HSM_Step2, SSCARD_OUTINFO_SIZE, (char *pKey, char *pWriteData), TXT(pKey), TXT(pWriteData))
EXPORT(int, iUnblockPIN_HSM_Step1, SSCARD_OUTINFO_SIZE, (int iType, char *pCardInfo), NUM(iType), TXT(pCardInfo))
EXPORT(int, iUnblockPIN_HSM_Step2, SSCARD_OUTINFO_SIZE, (char *pKey), TXT(pKey))
EXPORT(int, iUnblockPIN_HSM_Step3, SSCARD_OUTINFO_SIZE, (char *pKey), TXT(pKey))
EXPORT(int, iReadPhoto, SSCARD_PHOTO_SIZE, (int iType), NUM(iType))
EXPORT(int, iReadBankCardNo, SSCARD_OUTINFO_SIZE, (int iType), NUM(iType))
EXPORT(int, PKI_SignData, SSCARD_OUTINFO_SIZE, (char *pUserPin, char *pInData, int iType),
       TXT(pUserPin), TXT(pInData), NUM(iType))
EXPORT(int, PKI_VerifySign, SSCARD_OUTINFO_SIZE,
       (char *pUserPin, char *pCert, char *pClearText, char *pSignature, int iType),
       TXT(pUserPin), TXT(pCert), TXT(pClearText), TXT(pSignature), NUM(iType))
EXPORT(int, PKI_GetCert, SSCARD_CERT_SIZE, (int iType), NUM(iType))

/* "<device number>|<terminal number>|" split into the two buffers; a failure's message goes to pReaderSN. */
int iGetReaderInfo_Ex(char *pReaderSN, int iReaderSNSize, char *pPsamTermNo, int iPsamTermNoSize)
{
    if (pReaderSN == NULL || pPsamTermNo == NULL || iReaderSNSize < 1 || iPsamTermNoSize < 1)
        return SSCARD_E_BAD_PARAMETER;
    char both[SSCARD_OUTINFO_SIZE];
    pPsamTermNo[0] = '\0';
    int code = run("iGetReaderInfo", NULL, 0, both, (int)sizeof both);
    if (code != SSCARD_OK) {
        put_message(pReaderSN, (size_t)iReaderSNSize, both, strlen(both));
        return code;
    }
    char *bar = strchr(both, '|');
    char *end = bar ? strchr(bar + 1, '|') : NULL;
    if (end == NULL)
        return put_error(pReaderSN, (size_t)iReaderSNSize, INTERNAL_ERROR, "unexpected reader information|");
    size_t sn = (size_t)(bar - both), term = (size_t)(end - bar - 1);
    if (sn >= (size_t)iReaderSNSize || term >= (size_t)iPsamTermNoSize) {
        size_t need = sn >= (size_t)iReaderSNSize ? sn + 1 : term + 1;
        return put_error(pReaderSN, (size_t)iReaderSNSize, SSCARD_E_DATA_LENGTH,
                         "%zu|%s needs %zu bytes with its NUL|", need,
                         sn >= (size_t)iReaderSNSize ? "pReaderSN" : "pPsamTermNo", need);
    }
    memcpy(pReaderSN, both, sn);
    pReaderSN[sn] = '\0';
    memcpy(pPsamTermNo, bar + 1, term);
    pPsamTermNo[term] = '\0';
    return SSCARD_OK;
}

int iGetReaderInfo(char *pReaderSN, char *pPsamTermNo)
{
    return iGetReaderInfo_Ex(pReaderSN, SSCARD_READERINFO_SIZE, pPsamTermNo, SSCARD_READERINFO_SIZE);
}

/* --- library control ---------------------------------------------------------------------------------------- */
int sscard_set_pin_callback(SSCardPinCallback callback, void *pUser)
{
    pthread_mutex_lock(&pin_mutex);
    pin_callback = callback;
    pin_user = callback ? pUser : NULL;
    pthread_mutex_unlock(&pin_mutex);
    return SSCARD_OK;
}

int sscard_close(void)
{
    if (__atomic_load_n(&rt_state, __ATOMIC_ACQUIRE) == RT_NEW)
        return SSCARD_OK;       /* nothing opened yet; do not start Python just to close */
    if (runtime() != 0)
        return SSCARD_E_LOAD;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(py_close);
    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
    PyGILState_Release(gil);
    return SSCARD_OK;
}
