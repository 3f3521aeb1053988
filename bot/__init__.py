"""LINE bot server for Japanese e-commerce shops.

One package per part of the product; `bot.app.create_app` puts them together. Dependencies
point one way (README, "Architecture"):

    core ← line ← shop_api ← features ← console, health, handlers ← app
"""
