//! Pushes against a scripted server.

use super::*;
