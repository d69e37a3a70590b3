"""The host's side of the guest agent: its protocol and the channel to it."""
