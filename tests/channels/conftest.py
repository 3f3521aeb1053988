"""The channel tests' app: SMTP on loopback, the SMS emulator, the shipped scenarios."""

from tests.helpers.channels import app, settings, sms_emulator, smtp  # noqa: F401
