import Clustering
