"""The e-mail tests use the channel tests' app: SMTP on loopback, the SMS emulator."""

from tests.helpers.channels import app, settings, sms_emulator, smtp  # noqa: F401
