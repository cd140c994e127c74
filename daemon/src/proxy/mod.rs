pub mod authority;
