//! The names and ids front ends pass to the node and get back: each its own type, so that a
//! contact's alias cannot be given where a message id or a text is meant. In JSON each is
//! the plain string docs/CLI.md shows (`serde(transparent)`).

use serde::{Deserialize, Serialize};

/// Declares a newtype over `String` for a name or id, with the conversions front ends use
/// (`From<&str>`/`From<String>`, `as_str`, `Display`, comparison with `str`).
macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// As text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// As owned text.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<$name> for String {
            fn from(s: $name) -> Self {
                s.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

text_newtype! {
    /// A message's id as front ends see it (32 hex digits; opaque): in `queued`, `sent`,
    /// `delivered`, `message` events and in history.
    MessageId
}

text_newtype! {
    /// A contact's alias: the local name the user gave it, by which every command names the
    /// contact (unique in a profile; the contact is never told it).
    Alias
}

text_newtype! {
    /// A node's libp2p peer id in its text form (`12D3Koo…`), as in the `ready` event.
    PeerId
}

text_newtype! {
    /// The `ref` a client puts on a `send` (at most [`super::MAX_REF_LEN`] bytes), echoed in
    /// the answers about it.
    ClientRef
}

text_newtype! {
    /// A group's id as front ends see it (32 hex digits): every group command names its
    /// group by it (names are not unique).
    GroupRef
}

text_newtype! {
    /// A group member as front ends name it: the contact's alias, or for a member who is
    /// not a contact `~` and the first 8 hex digits of its identity key (as the group's
    /// member list shows it).
    MemberName
}

text_newtype! {
    /// An introduction's id (32 hex digits), as the `introduction` event gives it.
    IntroId
}

text_newtype! {
    /// A file's id (32 hex digits), as the `file_queued` and `file_offered` events give it:
    /// every file command names its file by it.
    FileId
}

impl FileId {
    /// The id of a file.
    pub(crate) fn of(id: &[u8; 16]) -> Self {
        Self(hex::encode(id))
    }

    /// The 16 bytes it names, if it is 32 hex digits.
    pub(crate) fn bytes(&self) -> Option<[u8; 16]> {
        hex::decode(&self.0).ok()?.try_into().ok()
    }
}

impl MessageId {
    /// The id of a stored message.
    pub(crate) fn of(id: &crate::store::MessageId) -> Self {
        Self(hex::encode(id.0))
    }
}
