"""Status words with English and Chinese meanings (docs/sources.md §3.2, ISO 7816-4 §5.6)."""
from __future__ import annotations

OK = 0x9000
WARN_INVALIDATED = 0x6283
MEMORY_FAILURE = 0x6581
WRONG_LENGTH = 0x6700
INVALID_STATE = 0x6901
INCOMPATIBLE_FILE = 0x6981
SECURITY_NOT_SATISFIED = 0x6982
AUTH_BLOCKED = 0x6983
DATA_INVALID = 0x6984
CONDITIONS_NOT_SATISFIED = 0x6985
NO_CURRENT_EF = 0x6986
SM_MISSING = 0x6987
SM_INCORRECT = 0x6988
WRONG_DATA = 0x6A80
FUNC_NOT_SUPPORTED = 0x6A81
FILE_NOT_FOUND = 0x6A82
RECORD_NOT_FOUND = 0x6A83
NOT_ENOUGH_MEMORY = 0x6A84
WRONG_P1P2 = 0x6A86
REF_NOT_FOUND = 0x6A88
INS_NOT_SUPPORTED = 0x6D00
CLA_NOT_SUPPORTED = 0x6E00
NO_PRECISE_DIAGNOSIS = 0x6F00
MAC_INVALID = 0x9302
APP_PERMANENTLY_BLOCKED = 0x9303
INSUFFICIENT_BALANCE = 0x9401
KEY_INDEX_UNSUPPORTED = 0x9403

_MEANINGS: dict[int, tuple[str, str]] = {
    0x9000: ("success", "成功"),
    0x6283: ("selected file invalidated (application blocked)", "选择的文件无效（应用已锁定）"),
    0x6581: ("memory failure", "内存失败"),
    0x6700: ("wrong length", "长度错误"),
    0x6901: ("command not accepted (invalid state)", "命令不接受（无效状态）"),
    0x6981: ("command incompatible with file structure", "命令与文件结构不相容"),
    0x6982: ("security status not satisfied", "安全状态不满足"),
    0x6983: ("authentication method blocked", "认证方法锁定"),
    0x6984: ("referenced data invalid", "引用数据无效"),
    0x6985: ("conditions of use not satisfied", "使用条件不满足"),
    0x6986: ("command not allowed (no current EF)", "不满足命令执行条件（无当前EF）"),
    0x6987: ("secure messaging data object missing", "安全报文数据项丢失"),
    0x6988: ("secure messaging data object incorrect", "安全报文数据项不正确"),
    0x6A80: ("incorrect data field", "数据域参数不正确"),
    0x6A81: ("function not supported (card or application blocked)", "功能不支持（卡或应用已锁定）"),
    0x6A82: ("file not found", "未找到文件"),
    0x6A83: ("record not found", "未找到记录"),
    0x6A84: ("not enough memory in file", "文件中存储空间不够"),
    0x6A86: ("incorrect P1 P2", "参数P1 P2不正确"),
    0x6A88: ("referenced data not found", "未找到引用数据"),
    0x6D00: ("instruction not supported", "不支持的指令"),
    0x6E00: ("class not supported", "不支持的类"),
    0x6F00: ("no precise diagnosis", "无精确诊断"),
    0x9302: ("MAC invalid", "MAC无效"),
    0x9303: ("application permanently blocked", "应用永久锁定"),
    0x9401: ("insufficient balance", "金额不足"),
    0x9403: ("key index not supported", "密钥索引不支持"),
    0x9406: ("MAC not available", "所需MAC不可用"),
}


def meaning(sw: int) -> tuple[str, str]:
    """(English, Chinese) meaning of a status word, including the 61xx/6Cxx/63Cx families."""
    if sw in _MEANINGS:
        return _MEANINGS[sw]
    sw1, sw2 = sw >> 8, sw & 0xFF
    if sw1 == 0x61:
        return (f"{sw2} more bytes available (GET RESPONSE)", f"还有{sw2}字节可取（取响应）")
    if sw1 == 0x6C:
        return (f"wrong Le, exact length is {sw2}", f"Le错误，正确长度为{sw2}")
    if sw1 == 0x63 and sw2 & 0xF0 == 0xC0:
        return (f"verification failed, {sw2 & 0x0F} tries left", f"校验失败，还剩{sw2 & 0x0F}次")
    return ("unknown status", "未知状态")


def is_success(sw: int) -> bool:
    return sw == OK
