/*
 * sscard.h — the national standard read/write-card interface (社会保障卡读写终端接口) as a C library,
 * libsscard.so, for counter software written in C, C++, C#, Java or Delphi (docs/sources.md §6).
 *
 * Every function runs the same Python code as `sscard` (host/standard/driver.py), embedded in the
 * caller's process; see native/sscard.c for how Python is found and why it is embedded directly.
 *
 * Calling convention: the platform's C ABI (cdecl). The Windows DLLs' `long __stdcall` becomes `int`: declare
 * CallingConvention.Cdecl in C# P/Invoke and `cdecl` in Delphi/Free Pascal; in Java use JNA or the FFM API.
 *
 * Strings
 *   Inputs and outputs are GBK, NUL-terminated. An input that is not valid GBK gives -41 (illegal
 *   characters); an input longer than SSCARD_INPUT_MAX bytes gives -14. A NULL input pointer gives -14.
 *
 * Output buffers (pOutInfo)
 *   The caller provides the buffer. The functions without a size take it to hold SSCARD_OUTINFO_SIZE
 *   bytes (iReadPhoto: SSCARD_PHOTO_SIZE; PKI_GetCert: SSCARD_CERT_SIZE; iGetReaderInfo: SSCARD_READERINFO_SIZE
 *   each); the `_Ex` variants
 *   take its size in bytes, NUL included. Nothing is ever written past that size:
 *   - a successful result that does not fit is refused with -42 (data length error) and pOutInfo holds
 *     "<bytes needed>|<message>|" (cut to fit), so the caller can call the `_Ex` variant again with a
 *     buffer of <bytes needed>;
 *   - an error message that does not fit is cut (at a GBK character) and keeps its own return code.
 *   A NULL pOutInfo (or an `_Ex` size below 1) gives -14 and nothing runs.
 *
 * Return codes (docs/sources.md §6.3): 0 success; -1 wrong card type; -2 no card; -5 the library could not
 * start its Python runtime (pOutInfo says why); -11 reader connection error (also a reader spec or
 * config file that cannot be used); -13 not supported; -14 bad parameter; -20 pCardInfo's card ID format;
 * -21 card not genuine; -22 pCardInfo names another card; -23 illegal input (pFileAddr, pWriteData, pKey,
 * HSM steps out of order); -31 PIN entry cancelled or unavailable; -32 PIN entry timeout; -33 PIN length;
 * -34 new PIN entries differ; -36 initial PIN refused; -41 illegal characters; -42 data length (also: the
 * output does not fit); -51 wrong PIN (pOutInfo "<tries left>|<message>|"); -52 PIN blocked; -2201..-2203
 * PSAM; -25 the card disagrees with the HSM; any other card status word SW as -SW (e.g. -27010 = -0x6982).
 * On failure pOutInfo holds "<message>|".
 *
 * iType: 1 contact, 2 contactless, 3 auto (contact first), 4 auto (contactless first); other values -14.
 *
 * Threads: any thread may call any function; calls are serialised (one reader). The HSM steps keep the
 * card powered from Step 1 to their last step; any other call in between abandons them, and a step called
 * out of order (or after its flow was abandoned or failed) gives -23. Every HSM step's formats:
 * docs/sources.md §6.4.
 *
 * Configuration: the reader is $SSCARD_READER, else `reader = "..."` (and `psam = "..."`) in the config file
 * ($SSCARD_CONFIG, else ./sscard.toml in the current folder, else $XDG_CONFIG_HOME/sscard/sscard.toml, else
 * ~/.config/sscard/sscard.toml; the same file sscard and its bridge read), else "sim" (the built-in emulator
 * with the demo card). It is read at the first call and again after
 * sscard_close(). The Python code runs from $SSCARD_HOME (the sscard folder, with its .venv), or the Python
 * $SSCARD_PYTHON names, else from the folder `make lib` was run in.
 */
#ifndef SSCARD_H
#define SSCARD_H

#ifdef __cplusplus
extern "C" {
#endif

#ifndef SSCARD_API
#  define SSCARD_API __attribute__((visibility("default")))
#endif

/* Buffer sizes, in bytes with the terminating NUL. */
#define SSCARD_OUTINFO_SIZE    1024   /* pOutInfo of every function without a size, except below */
#define SSCARD_PHOTO_SIZE      8192   /* iReadPhoto's pOutInfo: "<base64>|" of a JPEG up to 6,141 bytes
                                         (the shipped profiles' EF08 holds 4 KiB: 5,466 bytes) */
#define SSCARD_CERT_SIZE       4096   /* PKI_GetCert's pOutInfo: a certificate of up to about 2 KiB in base64 and
                                         its names */
#define SSCARD_READERINFO_SIZE 64     /* each of iGetReaderInfo's two outputs */
#define SSCARD_INPUT_MAX       16384  /* the longest input string accepted, NUL excluded */
#define SSCARD_PIN_SIZE        32     /* the PIN buffer a PIN callback is given */

/* Return codes used by the library itself (the full list: docs/sources.md §6.3). */
#define SSCARD_OK              0
#define SSCARD_E_NO_CARD       (-2)
#define SSCARD_E_LOAD          (-5)
#define SSCARD_E_READER        (-11)
#define SSCARD_E_NOT_SUPPORTED (-13)
#define SSCARD_E_BAD_PARAMETER (-14)
#define SSCARD_E_PIN_CANCELLED (-31)
#define SSCARD_E_PIN_TIMEOUT   (-32)
#define SSCARD_E_CHARACTERS    (-41)
#define SSCARD_E_DATA_LENGTH   (-42)

/* --- the standard interface (docs/sources.md §6.1) --------------------------------------------------------- */
SSCARD_API int iReadCardBas(int iType, char *pOutInfo);
SSCARD_API int iReadCard(int iType, int iAuthType, char *pCardInfo, char *pFileAddr, char *pOutInfo);
SSCARD_API int iWriteCard(int iType, char *pCardInfo, char *pFileAddr, char *pWriteData, char *pOutInfo);
SSCARD_API int iVerifyPIN(int iType, char *pOutInfo);
SSCARD_API int iChangePIN(int iType, char *pOutInfo);
SSCARD_API int iReloadPIN(int iType, char *pCardInfo, char *pOutInfo);
SSCARD_API int iUnblockPIN(int iType, char *pCardInfo, char *pOutInfo);
/* the medical purse (DF04) through the PSAM; pPayInfo "amount|bill total|YYYYMMDDhhmmss|" in yuan, pOutInfo
 * "balance before|amount|balance after|card txn no|terminal no|terminal txn no|YYYYMMDDhhmmss|TAC|"; the log as
 * "card txn no|amount|type|terminal no|YYYYMMDDhhmmss|$" per record (formats: docs/design.md §3.4) */
SSCARD_API int iDoDebit(int iType, char *pCardInfo, char *pPayInfo, char *pOutInfo);
SSCARD_API int iReadDebitRecord(int iType, char *pOutInfo);
/* the same debit with the provincial HSM computing MAC1 (a terminal without a PSAM, or whose PSAM lacks the purchase
 * key; formats: docs/sources.md §6.4). Step 1 asks the PIN (as iDoDebit) and sends INITIALIZE FOR PURCHASE; pPayInfo
 * as iDoDebit's, optionally with a fourth field, the terminal number (12 digits; required without a PSAM); pOutInfo
 * "algId|key address|card random|offline counter|amount|type|terminal no|YYYYMMDDhhmmss|key version|purse algId|
 * region|ATR hist|card ID|". Step 2: pKey "terminal txn no|YYYYMMDDhhmmss|MAC1|" from the HSM; sends DEBIT FOR
 * PURCHASE; pOutInfo iDoDebit's followed by "MAC2|", which the HSM checks. A wrong MAC1 is -37634 (-0x9302): the
 * card counts it and debits nothing. */
SSCARD_API int iDoDebit_HSM_Step1(int iType, char *pCardInfo, char *pPayInfo, char *pOutInfo);
SSCARD_API int iDoDebit_HSM_Step2(char *pKey, char *pOutInfo);
SSCARD_API int iReadCardBas_HSM_Step1(int iType, char *pOutInfo);
SSCARD_API int iReadCardBas_HSM_Step2(char *pKey, char *pOutInfo);
SSCARD_API int iReloadPIN_HSM_Step1(int iType, char *pCardInfo, char *pOutInfo);
SSCARD_API int iReloadPIN_HSM_Step2(char *pKey, char *pOutInfo);
SSCARD_API int iReloadPIN_HSM_Step3(char *pKey, char *pOutInfo);
SSCARD_API int iReadCard_HSM_Step1(int iType, char *pCardInfo, char *pFileAddr, char *pOutInfo);
SSCARD_API int iReadCard_HSM_Step2(char *pKey, char *pOutInfo);
SSCARD_API int iWriteCard_HSM_Step1(int iType, char *pCardInfo, char *pFileAddr, char *pOutInfo);
SSCARD_API int iWriteCard_HSM_Step2(char *pKey, char *pWriteData, char *pOutInfo);
SSCARD_API int iUnblockPIN_HSM_Step1(int iType, char *pCardInfo, char *pOutInfo);
SSCARD_API int iUnblockPIN_HSM_Step2(char *pKey, char *pOutInfo);
SSCARD_API int iUnblockPIN_HSM_Step3(char *pKey, char *pOutInfo);
/* personalisation of the basic data (EF05/EF06) through an HSM, as a card-making kiosk's driver declares it
 * (docs/sources.md §6.1 "iWriteCardBas"): iWriteCardBas outputs "algId|R|D|0094|", the card's challenge R and the
 * terminal's random D (the "two randoms", fields 1 and 2) the HSM computes the external authentication with
 * (key address 0094: the update key 04); iWriteCardBas_HSM_Step1 takes the HSM's answer as pKey (cryptogram C,
 * 16 hex, or C ‖ D, 32 hex) and pWriteInfo =
 * "卡识别码|初始化机构编码|发卡日期|卡有效期|卡号|社会保障号码|姓名|姓名拓展|性别|民族|出生日期|" (11 fields, GBK):
 * every value is checked first, then the card authenticates the HSM's answer (a wrong one: -0x63Cx, counted,
 * nothing written), then the items are written; pOutInfo is empty on success. An empty field leaves its item
 * unchanged (姓名扩展 is written with 姓名); 卡识别码 is empty or this card's (-22). iWriteCardBas returns long as
 * that driver declares it: a caller declaring int reads the same value (the low 32 bits of a sign-extended long). */
SSCARD_API long iWriteCardBas(int iType, char *pOutInfo);
SSCARD_API int iWriteCardBas_HSM_Step1(char *pKey, char *pWriteInfo, char *pOutInfo);
/* vendor extras: the same personalisation through the PSAM in one call (pWriteData as pWriteInfo above;
 * docs/sources.md §6.1); the photo (SSSE EF08) as "<base64 JPEG>|"; the terminal's device number (终端设备号, from
 * the config file) and the PSAM's terminal number, each without a separator; the co-branded card's bank card
 * number from its UnionPay application, "PAN|expiry YYYYMMDD|PAN sequence|AID|label|" (-1: no such application) */
SSCARD_API int iReadPhoto(int iType, char *pOutInfo);
SSCARD_API int iGetReaderInfo(char *pReaderSN, char *pPsamTermNo);
SSCARD_API int iReadBankCardNo(int iType, char *pOutInfo);
/* The PKI application of gen3 cards (LD/T 6001.5 §7 "签名"): sign pInData (GBK bytes) after the PKI user PIN
 * pUserPin ("" asks the PIN callback); "<base64 of the DER SM2 signature SEQUENCE { r, s }>|" (SM2 with SM3, the
 * default ID 1234567812345678). Vendor extra: the signing certificate, "<base64 DER>|<subject>|<issuer>|<serial
 * hex>|<not before YYYYMMDDHHMMSS>|<not after>|", or "|" when the card holds none (-1: no PKI application). */
SSCARD_API int PKI_SignData(char *pUserPin, char *pInData, int iType, char *pOutInfo);
SSCARD_API int PKI_GetCert(int iType, char *pOutInfo);
/* LD/T 6001.5 §7 "验证签名": whether pSignature (PKI_SignData's output, with or without its "|") signs pClearText
 * (GBK bytes) under the public key of pCert (base64 DER, PKI_GetCert's first field; "" reads the card's own
 * signing certificate through iType). pUserPin is accepted and unused. "1|" and 0 when it verifies, "0|" and -22
 * ("input data does not match", sscard's choice) when not; -23 pCert or pSignature not base64 of the expected DER. */
SSCARD_API int PKI_VerifySign(char *pUserPin, char *pCert, char *pClearText, char *pSignature, int iType,
                              char *pOutInfo);
SSCARD_API int iWriteCardBasExt(int iType, char *pCardInfo, char *pWriteData, char *pOutInfo);

/* --- the same with the output buffer's size (bytes, NUL included) ----------------------------------------- */
SSCARD_API int iReadCardBas_Ex(int iType, char *pOutInfo, int iOutSize);
SSCARD_API int iReadCard_Ex(int iType, int iAuthType, char *pCardInfo, char *pFileAddr, char *pOutInfo,
                            int iOutSize);
SSCARD_API int iWriteCard_Ex(int iType, char *pCardInfo, char *pFileAddr, char *pWriteData, char *pOutInfo,
                             int iOutSize);
SSCARD_API int iVerifyPIN_Ex(int iType, char *pOutInfo, int iOutSize);
SSCARD_API int iChangePIN_Ex(int iType, char *pOutInfo, int iOutSize);
SSCARD_API int iReloadPIN_Ex(int iType, char *pCardInfo, char *pOutInfo, int iOutSize);
SSCARD_API int iUnblockPIN_Ex(int iType, char *pCardInfo, char *pOutInfo, int iOutSize);
SSCARD_API int iDoDebit_Ex(int iType, char *pCardInfo, char *pPayInfo, char *pOutInfo, int iOutSize);
SSCARD_API int iReadDebitRecord_Ex(int iType, char *pOutInfo, int iOutSize);
SSCARD_API int iDoDebit_HSM_Step1_Ex(int iType, char *pCardInfo, char *pPayInfo, char *pOutInfo, int iOutSize);
SSCARD_API int iDoDebit_HSM_Step2_Ex(char *pKey, char *pOutInfo, int iOutSize);
SSCARD_API int iReadCardBas_HSM_Step1_Ex(int iType, char *pOutInfo, int iOutSize);
SSCARD_API int iReadCardBas_HSM_Step2_Ex(char *pKey, char *pOutInfo, int iOutSize);
SSCARD_API int iReloadPIN_HSM_Step1_Ex(int iType, char *pCardInfo, char *pOutInfo, int iOutSize);
SSCARD_API int iReloadPIN_HSM_Step2_Ex(char *pKey, char *pOutInfo, int iOutSize);
SSCARD_API int iReloadPIN_HSM_Step3_Ex(char *pKey, char *pOutInfo, int iOutSize);
SSCARD_API int iReadCard_HSM_Step1_Ex(int iType, char *pCardInfo, char *pFileAddr, char *pOutInfo, int iOutSize);
SSCARD_API int iReadCard_HSM_Step2_Ex(char *pKey, char *pOutInfo, int iOutSize);
SSCARD_API int iWriteCard_HSM_Step1_Ex(int iType, char *pCardInfo, char *pFileAddr, char *pOutInfo, int iOutSize);
SSCARD_API int iWriteCard_HSM_Step2_Ex(char *pKey, char *pWriteData, char *pOutInfo, int iOutSize);
SSCARD_API int iUnblockPIN_HSM_Step1_Ex(int iType, char *pCardInfo, char *pOutInfo, int iOutSize);
SSCARD_API int iUnblockPIN_HSM_Step2_Ex(char *pKey, char *pOutInfo, int iOutSize);
SSCARD_API int iUnblockPIN_HSM_Step3_Ex(char *pKey, char *pOutInfo, int iOutSize);
SSCARD_API int iWriteCardBas_Ex(int iType, char *pOutInfo, int iOutSize);
SSCARD_API int iWriteCardBas_HSM_Step1_Ex(char *pKey, char *pWriteInfo, char *pOutInfo, int iOutSize);
SSCARD_API int iReadPhoto_Ex(int iType, char *pOutInfo, int iOutSize);
SSCARD_API int iGetReaderInfo_Ex(char *pReaderSN, int iReaderSNSize, char *pPsamTermNo, int iPsamTermNoSize);
SSCARD_API int iReadBankCardNo_Ex(int iType, char *pOutInfo, int iOutSize);
SSCARD_API int PKI_SignData_Ex(char *pUserPin, char *pInData, int iType, char *pOutInfo, int iOutSize);
SSCARD_API int PKI_VerifySign_Ex(char *pUserPin, char *pCert, char *pClearText, char *pSignature, int iType,
                                char *pOutInfo, int iOutSize);
SSCARD_API int PKI_GetCert_Ex(int iType, char *pOutInfo, int iOutSize);
SSCARD_API int iWriteCardBasExt_Ex(int iType, char *pCardInfo, char *pWriteData, char *pOutInfo, int iOutSize);

/* --- library control (not part of the national interface) ------------------------------------------------- */

/* PIN entry. There is no PIN pad: iVerifyPIN, iChangePIN, iReloadPIN, iReloadPIN_HSM_Step2, iDoDebit,
 * iDoDebit_HSM_Step1, iReadDebitRecord, iReadCard with iAuthType 1, and iReadCard_HSM_Step2 and
 * iWriteCard_HSM_Step2 for files that need the PIN ask the PIN callback, one PIN at a time, on the calling thread:
 *   iPrompt 1 = the holder's current PIN, 2 = the new PIN, 3 = the new PIN again;
 *   write the digits, NUL-terminated, into pPin (iPinSize bytes) and return 0; return -31 when the holder
 *   cancels, -32 on a timeout (anything else counts as cancelled).
 * The callback must not call this library (such a call returns -23). Without a callback the library asks on the process's
 * controlling terminal (/dev/tty), or, with none (a GUI, a service) or with `pin_entry = "none"` in the config
 * file, refuses at once with -31. sscard_set_pin_callback(NULL, NULL) removes the callback. Returns 0. */
#define SSCARD_PIN_CURRENT 1
#define SSCARD_PIN_NEW     2
#define SSCARD_PIN_CONFIRM 3
typedef int (*SSCardPinCallback)(int iPrompt, char *pPin, int iPinSize, void *pUser);
SSCARD_API int sscard_set_pin_callback(SSCardPinCallback callback, void *pUser);

/* Release the readers and forget the configuration: the next call opens the reader again, reading
 * $SSCARD_READER and the config file anew. Abandons a pending HSM flow. Returns 0, or -5 if the runtime
 * never started. The Python runtime itself stays loaded until the process exits. */
SSCARD_API int sscard_close(void);

#ifdef __cplusplus
}
#endif
#endif /* SSCARD_H */
