//! The token that guards a server listening beyond loopback: read once from a private file,
//! held only in memory, and compared in constant time (SHA-256 of both sides, every byte
//! looked at), so the time a request takes says nothing about how much of a guess was right.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A bearer token (never printed: its `Debug` shows nothing of it).
#[derive(Clone)]
pub struct Token {
    digest: [u8; 32],
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("Cannot read the token file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("The token file {path} holds no token")]
    Empty { path: PathBuf },
    #[error("The token file {path} may be read by others (mode {mode:o})")]
    Shared { path: PathBuf, mode: u32 },
}

impl Token {
    /// The token in `path`: its first line without surrounding white space. The file must be
    /// private to its owner (no group or other permissions), like an SSH key.
    pub fn read(path: &Path) -> Result<Token, TokenError> {
        use std::os::unix::fs::PermissionsExt;
        let read = |source| TokenError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mode = std::fs::metadata(path).map_err(read)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(TokenError::Shared {
                path: path.to_path_buf(),
                mode: mode & 0o777,
            });
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        let token = text.lines().next().unwrap_or("").trim();
        if token.is_empty() {
            return Err(TokenError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Token::new(token))
    }

    pub fn new(token: &str) -> Token {
        Token {
            digest: Sha256::digest(token.as_bytes()).into(),
        }
    }

    /// Whether `given` is the token, in time that depends on neither.
    pub fn matches(&self, given: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        self.digest
            .iter()
            .zip(given.iter())
            .fold(0u8, |differ, (a, b)| differ | (a ^ b))
            == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_the_token_matches() {
        let token = Token::new("s3cret-token");
        assert!(token.matches("s3cret-token"));
        for wrong in ["", "s3cret-toke", "s3cret-token ", "S3cret-token"] {
            assert!(!token.matches(wrong), "{wrong:?}");
        }
        assert_eq!(format!("{token:?}"), "Token(..)");
    }

    #[test]
    fn a_token_file_must_be_private_and_hold_a_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  abc123 \nignored\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Token::read(&path).unwrap_err();
        assert!(
            matches!(err, TokenError::Shared { mode: 0o644, .. }),
            "{err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Token::read(&path).unwrap().matches("abc123"));
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            Token::read(&path).unwrap_err(),
            TokenError::Empty { .. }
        ));
        let missing = Token::read(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(missing, TokenError::Read { .. }), "{missing}");
    }
}
