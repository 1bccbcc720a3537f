//! `LanguageCode`: which implementation sent a command.

use std::fmt;

/// Sender language. JSON headers carry the name, binary headers the number; values this
/// table does not know are kept so that they can be echoed back unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LanguageCode {
    #[default]
    Java,
    Cpp,
    Dotnet,
    Python,
    Delphi,
    Erlang,
    Ruby,
    Other,
    Http,
    Go,
    Php,
    Oms,
    Rust,
    Unknown(u8),
}

const NAMES: [(LanguageCode, &str); 13] = [
    (LanguageCode::Java, "JAVA"),
    (LanguageCode::Cpp, "CPP"),
    (LanguageCode::Dotnet, "DOTNET"),
    (LanguageCode::Python, "PYTHON"),
    (LanguageCode::Delphi, "DELPHI"),
    (LanguageCode::Erlang, "ERLANG"),
    (LanguageCode::Ruby, "RUBY"),
    (LanguageCode::Other, "OTHER"),
    (LanguageCode::Http, "HTTP"),
    (LanguageCode::Go, "GO"),
    (LanguageCode::Php, "PHP"),
    (LanguageCode::Oms, "OMS"),
    (LanguageCode::Rust, "RUST"),
];

impl LanguageCode {
    pub fn from_code(code: u8) -> Self {
        NAMES
            .get(usize::from(code))
            .map(|(l, _)| *l)
            .unwrap_or(LanguageCode::Unknown(code))
    }

    pub fn code(self) -> u8 {
        match self {
            LanguageCode::Unknown(c) => c,
            known => NAMES.iter().position(|(l, _)| *l == known).unwrap_or(7) as u8,
        }
    }

    /// Java's `LanguageCode.valueOf`; an unknown name becomes `OTHER` rather than failing
    /// the whole header, since nothing in the server depends on it.
    pub fn from_name(name: &str) -> Self {
        NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(l, _)| *l)
            .unwrap_or(LanguageCode::Other)
    }

    pub fn name(self) -> &'static str {
        match self {
            LanguageCode::Unknown(_) => "OTHER",
            known => NAMES
                .iter()
                .find(|(l, _)| *l == known)
                .map(|(_, n)| *n)
                .unwrap_or("OTHER"),
        }
    }
}

impl fmt::Display for LanguageCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_agree() {
        for code in 0..=12u8 {
            let l = LanguageCode::from_code(code);
            assert_eq!(l.code(), code);
            assert_eq!(LanguageCode::from_name(l.name()), l);
        }
        assert_eq!(LanguageCode::from_code(12), LanguageCode::Rust);
        assert_eq!(LanguageCode::from_code(99), LanguageCode::Unknown(99));
        assert_eq!(LanguageCode::Unknown(99).code(), 99);
    }
}
