"""Notifications: messages in the user's language, channels (Telegram, webhook, email), delivery."""
