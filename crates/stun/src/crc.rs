//! CRC-32 (ISO-HDLC / IEEE 802.3, as used by FINGERPRINT, RFC 5389 §15.5).

/// The reflected polynomial 0x04C11DB7.
const POLY: u32 = 0xEDB8_8320;

// A const initialiser runs at compile time: an out-of-range index there is a build error, not a panic.
#[allow(clippy::indexing_slicing)]
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// The CRC-32 of `bytes`.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        let idx = usize::from((c as u8) ^ b);
        c = TABLE.get(idx).copied().unwrap_or(0) ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    #[test]
    fn check_value_of_the_standard_test_string() {
        // The catalogue check value for CRC-32/ISO-HDLC.
        assert_eq!(super::crc32(b"123456789"), 0xCBF4_3926);
    }
}
