"""Broadcasts (一斉配信): one message to a segment of friends, within the month's quota.

`compose` checks the console's form, `audience` finds the segment's friends and weighs them
against the quota, `service` keeps the records, `sending` multicasts in stored batches and
`jobs` runs it in the background.
"""
