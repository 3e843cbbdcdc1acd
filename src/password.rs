//! Random passwords for the reset step (being written).
