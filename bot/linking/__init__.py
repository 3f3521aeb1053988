"""Member linking (ID連携): LINE's account-link flow (link token and nonce) and the direct link
for shops on LINE Login; the shop API's links and members endpoints; erasure on request."""
