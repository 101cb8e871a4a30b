enum PacketKitPlaceholder {}
