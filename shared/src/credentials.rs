//! STS-style credentials (placeholder: being written).
