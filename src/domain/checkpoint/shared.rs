//! The checkpoint many hooks share (format version 2): a fleet's quiet hooks cost 8 bytes
//! each instead of an entry.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Extra;

/// One checkpoint for many hooks: those named in `hooks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedCheckpoint {
    pub checkpoint: DateTime<Utc>,
    /// The hooks' keys as [`member`]s, written sorted as 8 base64url characters each.
    #[serde(with = "members")]
    pub hooks: std::collections::BTreeSet<u64>,
    /// Unknown fields, kept (see [`super::CheckpointDocument::extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A hook's key as the shared checkpoint knows it: 48 bits of FNV-1a (mixed by SplitMix64's
/// finalizer) over the key in lower case. Two keys share these bits by chance once in
/// 2^48 / hooks (over 28 billion for 10,000 hooks); a new hook taken so for a known one
/// would start at the shared checkpoint instead of the first-run look-back.
pub fn member(key: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte.to_ascii_lowercase());
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (hash ^ (hash >> 31)) & 0xffff_ffff_ffff
}

/// A set of [`member`]s as one string: each member's 6 bytes, big-endian, in base64url
/// (the shared hooks; a receiver's sent events beyond its prefix).
pub(super) mod members {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use std::collections::BTreeSet;

    const ENGINE: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

    pub fn serialize<S: Serializer>(
        hooks: &BTreeSet<u64>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = hooks
            .iter()
            .flat_map(|member| member.to_be_bytes()[2..].to_vec())
            .collect();
        serializer.serialize_str(&ENGINE.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeSet<u64>, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = ENGINE
            .decode(text.as_bytes())
            .map_err(|_| D::Error::custom("`shared.hooks` is not base64url"))?;
        if bytes.len() % 6 != 0 {
            return Err(D::Error::custom(
                "`shared.hooks` is not a list of 6-byte members",
            ));
        }
        Ok(bytes
            .chunks(6)
            .map(|chunk| {
                let mut word = [0u8; 8];
                word[2..].copy_from_slice(chunk);
                u64::from_be_bytes(word)
            })
            .collect())
    }
}
