#!/usr/bin/env bash
# Recompute the OpenSSL known-answer vectors of tests/unit/test_vectors.py with the `openssl` command line,
# independently of protocols/crypto.py: each recipe of docs/design.md §3 is spelled out here as openssl ECB/CBC
# calls (single DES needs OpenSSL 3's legacy provider). The tests hold the printed hex as constants and never run
# this script, so CI does not depend on openssl; run it by hand to check or extend the vectors:
#   bash scripts/crypto-vectors.sh
set -euo pipefail

LEGACY=(-provider legacy -provider default)

# --- hex helpers -------------------------------------------------------------------------------------------------
upper() { tr 'a-f' 'A-F'; }
# enc CIPHER KEY HEX [IV]: openssl enc without padding, hex in, hex out
enc() {
  local cipher=$1 key=$2 data=$3 iv=${4:-} extra=()
  case $cipher in des-ecb|des-cbc) extra=("${LEGACY[@]}") ;; esac
  [ -n "$iv" ] && extra+=(-iv "$iv")
  printf '%s' "$data" | xxd -r -p | openssl enc "-$cipher" -nopad -K "$key" "${extra[@]}" | xxd -p -c 256 | upper
}
dec() {
  local cipher=$1 key=$2 data=$3 extra=()
  case $cipher in des-ecb|des-cbc) extra=("${LEGACY[@]}") ;; esac
  printf '%s' "$data" | xxd -r -p | openssl enc -d "-$cipher" -nopad -K "$key" "${extra[@]}" | xxd -p -c 256 | upper
}
last() { local hex=$1 n=$2; printf '%s' "${hex: -$((2 * n))}"; }          # the last N bytes
# pad80 HEX BLOCK: ISO/IEC 9797-1 padding method 2 (80, then 00 up to a whole block)
pad80() {
  local hex="${1}80" block=$2
  while [ $(( ${#hex} / 2 % block )) -ne 0 ]; do hex="${hex}00"; done
  printf '%s' "$hex"
}
# xor8 A B: XOR of two 8-byte hex strings, in two 32-bit halves so that shell arithmetic stays unsigned
xor8() { printf '%08X%08X' $(( 0x${1:0:8} ^ 0x${2:0:8} )) $(( 0x${1:8:8} ^ 0x${2:8:8} )); }
not8() { xor8 "$1" FFFFFFFFFFFFFFFF; }
zeros() { printf '%0*d' $(( 2 * $1 )) 0; }

# --- the recipes, from openssl primitives only ---------------------------------------------------------------------
# ISO/IEC 9797-1 MAC algorithm 3: single-DES CBC under K1 over every block, then D_K2 and E_K3 (K3 = K1 for 2-key).
retail_mac() {  # KEY(16|24 bytes) PADDED-HEX IV
  local key=$1 data=$2 iv=$3 k1=${1:0:16} k2=${1:16:16} k3=${1:32:16}
  [ -n "$k3" ] || k3=$k1
  local y; y=$(last "$(enc des-cbc "$k1" "$data" "$iv")" 8)
  enc des-ecb "$k3" "$(dec des-ecb "$k2" "$y")"
}
des_cbc_mac() { last "$(enc des-cbc "$1" "$2" "$3")" 8; }             # KEY8 PADDED-HEX IV
sm4_cbc_mac() { last "$(enc sm4-cbc "$1" "$2" "$3")" 16; }            # KEY16 PADDED-HEX IV16
div_des3() { enc des-ede-ecb "$1" "$2$(not8 "$2")"; }                  # 3DES_K(f) ‖ 3DES_K(NOT f), as two ECB blocks
div_sm4() { enc sm4-ecb "$1" "$2$(not8 "$2")"; }                      # SM4_K(f ‖ NOT f)
pk_des3() { enc des-ede-ecb "$1" "$2"; }                              # SK = 3DES_K(P)
pk_sm4() { enc sm4-ecb "$1" "$2$(zeros 8)"; }                         # SK = SM4_K(P ‖ 00×8)
pe_des3() { enc des-ecb "$1" "$2"; }                                  # DES_SK(D)
pe_sm4() { local b; b=$(enc sm4-ecb "$1" "$2$(zeros 8)"); xor8 "${b:0:16}" "${b:16:16}"; }   # L XOR R

line() { printf '    "%s": "%s",\n' "$1" "$2"; }

# --- inputs (the constants of tests/unit/test_vectors.py) ---------------------------------------------------------
K16=404142434445464748494A4B4C4D4E4F                        # 2-key 3DES
K24=0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123        # 3-key 3DES, the NIST SP 800-67 example keys
K8=133457799BBCDFF1                                         # single DES (a process key)
KSM4=0123456789ABCDEFFEDCBA9876543210                       # GB/T 32907-2016 example key
CHAL=1122334455667788                                       # a card challenge (the IV of a PSAM MAC)
MSG1=04D6850004                                             # a secured UPDATE BINARY header ‖ Lc (5 bytes)
MSG2=04DC01340E0102030405060708090A0B0C0D0E                 # UPDATE RECORD with 14 data bytes (19 bytes)
MSG3=000102030405060708090A0B0C0D0E0F1011121314151617       # 24 bytes: a whole number of blocks, padding adds one
F_PROV=3434303030307368                                     # "440000sh"
F_CITY=3434303130307378                                     # "440100sx"
F_CARD=8697159900BF7C7A                                     # last 8 ATR bytes of docs/sources.md §4.8's example
P=1A2B3C4D5E6F7081                                          # process factor
D=0102030405060708                                          # authentication data
PIN_LV=03123456                                             # LV of PIN 123456 (PIN RELOAD)

echo "# $(openssl version)"
echo "OPENSSL_VECTORS = {"
for m in MSG1 MSG2 MSG3; do
  line "retail_mac_k16_iv0_$m" "$(retail_mac $K16 "$(pad80 ${!m} 8)" "$(zeros 8)")"
  line "retail_mac_k16_chal_$m" "$(retail_mac $K16 "$(pad80 ${!m} 8)" $CHAL)"
  line "retail_mac_k24_chal_$m" "$(retail_mac $K24 "$(pad80 ${!m} 8)" $CHAL)"
  line "des_cbc_mac_k8_chal_$m" "$(des_cbc_mac $K8 "$(pad80 ${!m} 8)" $CHAL)"
  line "sm4_cbc_mac_chal_$m" "$(sm4_cbc_mac $KSM4 "$(pad80 ${!m} 16)" "$CHAL$(zeros 8)")"
done
line retail_mac_k16_iv0_empty "$(retail_mac $K16 "$(pad80 "" 8)" "$(zeros 8)")"
line sm4_cbc_mac_iv0_empty "$(sm4_cbc_mac $KSM4 "$(pad80 "" 16)" "$(zeros 16)")"

for alg in des3 sm4; do
  [ $alg = des3 ] && root=$K16 || root=$KSM4
  prov=$(div_$alg $root $F_PROV)
  city=$(div_$alg "$prov" $F_CITY)
  card=$(div_$alg "$city" $F_CARD)
  line "diversify_${alg}_province" "$prov"
  line "diversify_${alg}_city" "$city"
  line "diversify_${alg}_card" "$card"
  sk=$(pk_$alg $root $P)
  line "process_key_${alg}" "$sk"
  line "process_encrypt_${alg}" "$(pe_$alg "$sk" $D)"
  # INTERNAL AUTHENTICATE P ‖ D under the card key: SK from the card key and P, then E_SK(D)
  line "internal_auth_${alg}" "$(pe_$alg "$(pk_$alg "$card" $P)" $D)"
  # secure messaging: SK = E_K(challenge); MAC = CBC-MAC under SK, IV zero, over the padded message
  sk=$(pk_$alg $root $CHAL)
  if [ $alg = des3 ]; then
    line "sm_mac_des3_MSG1" "$(des_cbc_mac "$sk" "$(pad80 $MSG1 8)" "$(zeros 8)")"
    line "sm_mac_des3_MSG2" "$(des_cbc_mac "$sk" "$(pad80 $MSG2 8)" "$(zeros 8)")"
    line "sm_encipher_des3_pin" "$(enc des-ecb "$sk" "$(pad80 $PIN_LV 8)")"
  else
    line "sm_mac_sm4_MSG1" "$(sm4_cbc_mac "$sk" "$(pad80 $MSG1 16)" "$(zeros 16)")"
    line "sm_mac_sm4_MSG2" "$(sm4_cbc_mac "$sk" "$(pad80 $MSG2 16)" "$(zeros 16)")"
    line "sm_encipher_sm4_pin" "$(enc sm4-ecb "$sk" "$(pad80 $PIN_LV 16)")"
  fi
done
echo "}"
