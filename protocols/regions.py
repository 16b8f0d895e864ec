"""Region codes (GB/T 2260) of the shipped region: Guangdong's prefecture-level cities."""
from __future__ import annotations

GUANGDONG: dict[str, str] = {
    "440100": "广州市", "440200": "韶关市", "440300": "深圳市", "440400": "珠海市", "440500": "汕头市",
    "440600": "佛山市", "440700": "江门市", "440800": "湛江市", "440900": "茂名市", "441200": "肇庆市",
    "441300": "惠州市", "441400": "梅州市", "441500": "汕尾市", "441600": "河源市", "441700": "阳江市",
    "441800": "清远市", "441900": "东莞市", "442000": "中山市", "445100": "潮州市", "445200": "揭阳市",
    "445300": "云浮市",
}


def region_name(code: str) -> str:
    """'440100' -> '广东省广州市'; unknown codes come back as they are."""
    city = GUANGDONG.get(code)
    return f"广东省{city}" if city else code
