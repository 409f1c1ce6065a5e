"""Follow-through (SPEC §9): watching created sessions until they settle, their results,
cancelling and messaging them."""
