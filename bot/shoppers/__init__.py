"""Shoppers: who follows the shop's account, their profile and marketing consent, and the
follow, unfollow, consent and unsend events that change them."""
