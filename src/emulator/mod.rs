//! The emulated Microsoft Graph tenant (being written).
