print("voronoid")
