directory = kit.directory
