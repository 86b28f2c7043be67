//! Hot-reload snapshots as JSON: reading one back with its layout version checked, and
//! maps keyed by [`crate::ids::Id`] written as pairs.

use serde::de::DeserializeOwned;

/// Reads a snapshot `T` that the previous version wrote; `version_of` gives its layout
/// version, which must be `version`. `plugin` names the plugin in the error.
pub fn read<T: DeserializeOwned>(
    state: &[u8],
    plugin: &str,
    version: u32,
    version_of: impl FnOnce(&T) -> u32,
) -> Result<T, String> {
    let s: T =
        serde_json::from_slice(state).map_err(|e| format!("{plugin} snapshot unreadable: {e}"))?;
    let found = version_of(&s);
    if found != version {
        return Err(format!(
            "{plugin} snapshot version {found} (this version reads {version})"
        ));
    }
    Ok(s)
}

/// Maps keyed by [`crate::ids::Id`] as a list of pairs (`#[serde(with = "pairs")]`): JSON
/// object keys are strings, which would turn numeric ids into string ids on the way back.
pub mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        m: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::*;
    use crate::ids::Id;

    #[derive(Debug, Serialize, Deserialize)]
    struct Snap {
        version: u32,
        #[serde(with = "pairs")]
        things: BTreeMap<Id, String>,
    }

    #[test]
    fn numeric_ids_survive_and_versions_are_checked() {
        let snap = Snap {
            version: 2,
            things: BTreeMap::from([(Id::Num(7), "x".to_owned())]),
        };
        let bytes = serde_json::to_vec(&snap).unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
            json!({"version": 2, "things": [[7, "x"]]})
        );
        let back: Snap = read(&bytes, "demo", 2, |s: &Snap| s.version).unwrap();
        assert_eq!(back.things.keys().collect::<Vec<_>>(), [&Id::Num(7)]);
        assert_eq!(
            read(&bytes, "demo", 3, |s: &Snap| s.version).err(),
            Some("demo snapshot version 2 (this version reads 3)".to_owned())
        );
        assert!(
            read(b"[", "demo", 2, |s: &Snap| s.version)
                .unwrap_err()
                .starts_with("demo snapshot unreadable: ")
        );
    }
}
