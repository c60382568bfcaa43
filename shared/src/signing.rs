//! Request signing, CONTRACT.md §6 (placeholder: being written).
