//! Reading the strategy file: only a regular file is read (a FIFO, socket, device or
//! directory is refused before anything blocks on it), and its bytes must be UTF-8, with the
//! first bad byte located.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use super::locate::Position;
use super::{Problem, StrategyError};

/// The text of the strategy file at `path`.
pub(super) fn read(path: &Path) -> Result<String, StrategyError> {
    let bytes = read_regular(path).map_err(|source| StrategyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| StrategyError::Invalid {
        path: path.to_path_buf(),
        problems: vec![not_utf8(e.as_bytes(), e.utf8_error())],
    })
}

/// The bytes of `path`, refused unless it is a regular file. The type is checked before
/// opening (stat does not block on a FIFO), and again on the opened handle, which is opened
/// non-blocking so that a FIFO swapped in between cannot block either.
fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    regular(&std::fs::metadata(path)?)?;
    let mut file: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    regular(&file.metadata()?)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn regular(meta: &Metadata) -> io::Result<()> {
    let kind = meta.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a named pipe (FIFO)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "something other than a file"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {what}, not a regular file"),
    ))
}

/// The problem of bytes that are not UTF-8, at the first bad byte.
fn not_utf8(bytes: &[u8], error: std::str::Utf8Error) -> Problem {
    let at = error.valid_up_to();
    let valid = std::str::from_utf8(&bytes[..at]).expect("valid up to here");
    let message = match error.error_len() {
        Some(_) => format!(
            "The file is not UTF-8 text: byte 0x{:02X} here does not belong to a UTF-8 character.",
            bytes[at]
        ),
        None => "The file is not UTF-8 text: it ends in the middle of a UTF-8 character.".into(),
    };
    Problem {
        pointer: String::new(),
        position: Some(Position::of_offset(valid, at)),
        message,
        hint: Some(
            "JSON files are UTF-8: save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)".into(),
        ),
    }
}
