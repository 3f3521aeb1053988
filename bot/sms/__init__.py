"""SMS: the provider interface, its HTTP adapter, and the inbound and receipt webhooks."""

from bot.sms.provider import SmsError, SmsProvider, SmsRejected, SmsSent, SmsUnavailable

__all__ = ["SmsError", "SmsProvider", "SmsRejected", "SmsSent", "SmsUnavailable"]
