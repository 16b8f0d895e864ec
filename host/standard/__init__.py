"""The national standard read/write-card interface (docs/sources.md §6) in Python, over any reader.

``SSCardDriver(spec_or_terminal, pin_entry=…)`` has the functions; ``call(driver, message)`` runs one
``{"function": "iReadCardBas", "iType": 3}``-style request (the WebSocket bridge's message format) and
``FUNCTIONS`` lists each function's parameters in the order of the C prototypes.
"""
from __future__ import annotations

from collections.abc import Mapping

from host import errors as E
from host.standard.driver import Result, SSCardDriver, failure
from host.standard.pinpad import PinEntry, PinPrompt, ScriptedPins, console_pin_entry, no_pin_entry

__all__ = ["FUNCTIONS", "PinEntry", "PinPrompt", "Result", "SSCardDriver", "ScriptedPins", "call",
           "console_pin_entry", "no_pin_entry"]

#: function name -> parameter names (inputs only; pOutInfo is the second member of the result).
FUNCTIONS: dict[str, tuple[str, ...]] = {
    "iReadCardBas": ("iType",),
    "iReadCard": ("iType", "iAuthType", "pCardInfo", "pFileAddr"),
    "iWriteCard": ("iType", "pCardInfo", "pFileAddr", "pWriteData"),
    "iWriteCardBas": ("iType",),
    "iWriteCardBas_HSM_Step1": ("pKey", "pWriteInfo"),
    "iVerifyPIN": ("iType",),
    "iChangePIN": ("iType",),
    "iReloadPIN": ("iType", "pCardInfo"),
    "iUnblockPIN": ("iType", "pCardInfo"),
    "iDoDebit": ("iType", "pCardInfo", "pPayInfo"),
    "iReadDebitRecord": ("iType",),
    "iReadCardBas_HSM_Step1": ("iType",),
    "iReadCardBas_HSM_Step2": ("pKey",),
    "iReloadPIN_HSM_Step1": ("iType", "pCardInfo"),
    "iReloadPIN_HSM_Step2": ("pKey",),
    "iReloadPIN_HSM_Step3": ("pKey",),
    "iReadCard_HSM_Step1": ("iType", "pCardInfo", "pFileAddr"),
    "iReadCard_HSM_Step2": ("pKey",),
    "iWriteCard_HSM_Step1": ("iType", "pCardInfo", "pFileAddr"),
    "iWriteCard_HSM_Step2": ("pKey", "pWriteData"),
    "iUnblockPIN_HSM_Step1": ("iType", "pCardInfo"),
    "iUnblockPIN_HSM_Step2": ("pKey",),
    "iUnblockPIN_HSM_Step3": ("pKey",),
    "iDoDebit_HSM_Step1": ("iType", "pCardInfo", "pPayInfo"),
    "iDoDebit_HSM_Step2": ("pKey",),
    "PKI_SignData": ("pUserPin", "pInData", "iType"),      # LD/T 6001.5 §7, the PKI application of gen3 cards
    "PKI_VerifySign": ("pUserPin", "pCert", "pClearText", "pSignature", "iType"),
    # vendor extras
    "iReadPhoto": ("iType",),
    "iGetReaderInfo": (),
    "iReadBankCardNo": ("iType",),
    "PKI_GetCert": ("iType",),
    "iWriteCardBasExt": ("iType", "pCardInfo", "pWriteData"),
}
_INT_PARAMS = frozenset({"iType", "iAuthType"})


def call(driver: SSCardDriver, message: Mapping[str, object]) -> Result:
    """Run one request: ``function`` names it, the other keys are its parameters (missing strings are "")."""
    name = message.get("function")
    if not isinstance(name, str) or name not in FUNCTIONS:
        return failure(E.NotSupported(f"unknown function {name!r}"))
    args: list[object] = []
    for param in FUNCTIONS[name]:
        value = message.get(param)
        if param in _INT_PARAMS:
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                return failure(E.BadParameter(f"{param} must be an integer"))
            try:
                value = int(value)
            except ValueError:
                return failure(E.BadParameter(f"{param} must be an integer"))
        else:
            if value is None:
                value = ""
            if not isinstance(value, str):
                return failure(E.BadParameter(f"{param} must be a string"))
        args.append(value)
    return getattr(driver, name)(*args)
