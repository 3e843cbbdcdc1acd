//! Reading the list of target users (being written).
