//! Greetings: the domain behind `helloworld.Greeter`.
//!
//! Pure functions with no gRPC in them, so that they are tested on their own and the
//! gRPC adapter in [`crate::services::greeter`] stays a thin translation layer.

use std::fmt;

/// The longest name accepted, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 256;

/// The greetings that `SayHelloStreamReply` streams, one per language, in this order.
///
/// Each entry is the word for "hello" in one language; the full greeting is
/// `"<word>, <name>!"`.
pub const GREETINGS: [&str; 10] = [
    "Hello",      // English
    "Bonjour",    // French
    "Hola",       // Spanish
    "Hallo",      // German
    "Ciao",       // Italian
    "Olá",        // Portuguese
    "Hej",        // Swedish
    "Merhaba",    // Turkish
    "Namaste",    // Hindi
    "Konnichiwa", // Japanese
];

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// The name was the empty string.
    Empty,
    /// The name was longer than [`MAX_NAME_BYTES`]; holds its length in bytes.
    TooLong(usize),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "name must not be empty"),
            NameError::TooLong(len) => write!(
                f,
                "name is {len} bytes long; at most {MAX_NAME_BYTES} bytes are allowed"
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// Checks that `name` is 1 to [`MAX_NAME_BYTES`] bytes long.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        Err(NameError::Empty)
    } else if name.len() > MAX_NAME_BYTES {
        Err(NameError::TooLong(name.len()))
    } else {
        Ok(())
    }
}

/// `"Hello, <name>!"`, the quickstart's greeting.
///
/// # Errors
/// [`NameError`] when the name is empty or too long.
pub fn hello(name: &str) -> Result<String, NameError> {
    greet("Hello", name)
}

/// `"Hello again, <name>!"`, the quickstart's second greeting.
///
/// # Errors
/// [`NameError`] when the name is empty or too long.
pub fn hello_again(name: &str) -> Result<String, NameError> {
    greet("Hello again", name)
}

/// `"<word>, <name>!"` for a greeting word such as those in [`GREETINGS`].
///
/// # Errors
/// [`NameError`] when the name is empty or too long.
pub fn greet(word: &str, name: &str) -> Result<String, NameError> {
    validate_name(name)?;
    Ok(format!("{word}, {name}!"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_world_is_the_quickstart_greeting() {
        assert_eq!(hello("World").unwrap(), "Hello, World!");
        assert_eq!(hello_again("World").unwrap(), "Hello again, World!");
    }

    #[test]
    fn names_are_bounded() {
        assert_eq!(hello(""), Err(NameError::Empty));
        let longest = "é".repeat(MAX_NAME_BYTES / 2);
        assert!(hello(&longest).is_ok());
        let too_long = format!("{longest}x");
        assert_eq!(
            hello(&too_long),
            Err(NameError::TooLong(MAX_NAME_BYTES + 1))
        );
    }

    #[test]
    fn every_language_greets_by_name() {
        let all: Vec<_> = GREETINGS.iter().map(|w| greet(w, "Ada").unwrap()).collect();
        assert_eq!(all[1], "Bonjour, Ada!");
        assert!(all.iter().all(|g| g.ends_with(", Ada!")));
    }
}
