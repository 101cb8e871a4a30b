enum TCPScriptPlaceholder {}
