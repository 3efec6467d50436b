"""The dynamic resources. Each module holds one resource: its args, provider and Resource class."""
