//! User-facing language: English or Spanish.
//!
//! Each capability keeps its own table of `(key, english, spanish)` rows and
//! looks texts up through `text` and `format`. Placeholders are written
//! `{name}` and filled by `format`. Keys, log fields and JSON stay English.

use std::fmt::Display;

/// The language of everything a user reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    Es,
}

/// One translated text: the key, then English, then Spanish.
pub type Row = (&'static str, &'static str, &'static str);

impl Lang {
    /// Parses a config value: "en" or "es" (case-insensitive, region allowed: "es_MX").
    pub fn from_code(code: &str) -> Option<Lang> {
        let code = code.trim().to_ascii_lowercase();
        let base = code.split(['_', '-', '.']).next().unwrap_or("");
        match base {
            "en" => Some(Lang::En),
            "es" => Some(Lang::Es),
            _ => None,
        }
    }

    /// Reads the language from `LC_ALL`, `LC_MESSAGES` or `LANG`; English otherwise.
    pub fn from_env() -> Lang {
        for var in ["LC_ALL", "LC_MESSAGES", "LANG"] {
            if let Ok(value) = std::env::var(var) {
                if !value.is_empty() {
                    return Lang::from_code(&value).unwrap_or(Lang::En);
                }
            }
        }
        Lang::En
    }

    /// Returns the ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }
}

/// Returns the text for `key` in `lang`; a missing key returns the key itself,
/// which a unit test per table prevents.
pub fn text(table: &[Row], lang: Lang, key: &str) -> &'static str {
    match table.iter().find(|row| row.0 == key) {
        Some((_, en, es)) => match lang {
            Lang::En => en,
            Lang::Es => es,
        },
        None => {
            tracing::error!(key, "missing translation key");
            "?"
        }
    }
}

/// Returns the text for `key` with every `{name}` replaced by its value.
pub fn format(table: &[Row], lang: Lang, key: &str, args: &[(&str, &dyn Display)]) -> String {
    let mut out = text(table, lang, key).to_string();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), &value.to_string());
    }
    out
}

#[cfg(test)]
/// Checks a table for duplicate keys, empty texts and placeholders that differ
/// between the languages; used by each table's unit test.
pub fn check_table(table: &[Row]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for (key, en, es) in table {
        if !seen.insert(*key) {
            return Err(format!("duplicate key {key}"));
        }
        if en.trim().is_empty() || es.trim().is_empty() {
            return Err(format!("empty text for {key}"));
        }
        if placeholders(en) != placeholders(es) {
            return Err(format!("placeholders differ for {key}"));
        }
    }
    Ok(())
}

#[cfg(test)]
fn placeholders(text: &str) -> Vec<&str> {
    let mut names: Vec<&str> = text
        .split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
        .collect();
    names.sort_unstable();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_codes() {
        assert_eq!(Lang::from_code("es_MX.UTF-8"), Some(Lang::Es));
        assert_eq!(Lang::from_code("EN"), Some(Lang::En));
        assert_eq!(Lang::from_code("fr"), None);
    }

    #[test]
    fn format_fills_placeholders() {
        let table: &[Row] = &[("greet", "hello {who}", "hola {who}")];
        assert_eq!(format(table, Lang::Es, "greet", &[("who", &"ana")]), "hola ana");
        assert!(check_table(table).is_ok());
    }

    #[test]
    fn check_table_finds_placeholder_mismatch() {
        let table: &[Row] = &[("k", "{a}", "{b}")];
        assert!(check_table(table).is_err());
    }
}
