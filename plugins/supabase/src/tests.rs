//! The plugin against a scripted server.

use super::*;
