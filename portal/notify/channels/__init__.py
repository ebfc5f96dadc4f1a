"""The ways a message leaves, each a module behind `base.Channel`: send one message, say what became of it."""
