"""Follow-through: watching created sessions until they settle, their results,
cancelling and messaging them."""
